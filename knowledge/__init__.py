"""The matter knowledge base: data files, schema, loader and validation."""
from .loader import KnowledgeBase, KnowledgeError, Problem, load

__all__ = ["KnowledgeBase", "KnowledgeError", "Problem", "load"]
