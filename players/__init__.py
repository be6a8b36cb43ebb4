"""Clients that show content: the browser player and the headless Python player.

This package never imports `signage`; it speaks to the CMS only over its protocol.
"""
