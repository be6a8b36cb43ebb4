"""HTTP views: each parses the request, calls domain functions, and renders."""
