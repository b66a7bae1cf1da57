"""ModelGraph: the loaded model, its inferred shapes, producers and consumers, and the walk over its subgraphs."""

from .model import ModelGraph, load

__all__ = ["ModelGraph", "load"]
