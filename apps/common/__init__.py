"""Helpers every app may use: they import only Django, never an app or the project package."""
