"""Shape inference on the weightless skeleton, shape-arithmetic folding, contrib-op shapes, conv/pool geometry."""
