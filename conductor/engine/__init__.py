"""The job engine: claim due jobs in batches, run handlers, write outcomes in bulk."""
