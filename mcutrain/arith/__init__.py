"""Integer arithmetic shared by the twin and the code generator (docs/arithmetic.md)."""
