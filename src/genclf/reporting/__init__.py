"""Reporting: tables, figures and the HTML report."""
