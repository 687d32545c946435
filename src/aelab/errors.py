"""The project's own error types: every user-facing failure is one of these, with a one-line message."""


class AelabError(Exception):
    """A problem the user can fix (bad input, missing file, unknown name); printed as one line."""


class DataError(AelabError):
    """A dataset is missing, unreadable, corrupt or of the wrong shape."""


class ConfigError(AelabError):
    """A configuration value or combination is invalid."""


class CheckpointError(AelabError):
    """A run folder or checkpoint is missing, corrupt, or belongs to something else."""


class TrainingDiverged(AelabError):
    """A loss or gradient became NaN/inf; the last good checkpoint is kept."""


class UsageError(ConfigError):
    """The command line itself is incomplete or contradictory (exit status 2, like argparse's errors)."""


class CodeIndexError(AelabError):
    """A binary-code index is missing, corrupt, busy, or asked for something it cannot do."""


class IndexSourceError(CodeIndexError):
    """Codes from one model were given to an index built from another model's codes."""
