"""Reporting: charts and tables read from a run's frames and summaries (never from the SimPy model)."""
