"""Trusted autograder for the course."""
