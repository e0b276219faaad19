"""Everything that runs git: the only way gitdata reads a repository. Never imports storage/."""
