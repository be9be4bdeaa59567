"""Admin of the db recorder's runs, push items and attachments (filled in by the recorder work)."""
