"""What is shown on screens, independent of the web: content types, layouts, schedules.

This package imports neither `signage` nor `players`.
"""
