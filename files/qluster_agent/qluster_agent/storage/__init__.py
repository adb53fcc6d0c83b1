"""Durable term, vote, log and snapshot of the consensus core."""
from .disk import DiskStorage, StorageError
from .memory import MemoryStorage

__all__ = ["DiskStorage", "MemoryStorage", "StorageError"]
