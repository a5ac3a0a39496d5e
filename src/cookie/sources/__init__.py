"""Step 2 of the data flow: regions, layers and labels read from files."""
