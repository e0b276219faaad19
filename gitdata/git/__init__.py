"""Everything that runs git: the only way gitdata reads a repository (but for the stat data
index_file.py writes into the index). Never imports storage/."""
