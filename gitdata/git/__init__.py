"""Everything that runs git or opens a repository with pygit2. Never imports storage/."""
