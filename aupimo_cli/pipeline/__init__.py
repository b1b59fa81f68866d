"""What each command does, as plain functions: evaluate a category, benchmark a dataset, check results."""
