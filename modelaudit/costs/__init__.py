"""The audit: a Report from a ModelGraph (weights walk, the topological walk, NodeContext -> rules -> Cost,
memory, blocks)."""
