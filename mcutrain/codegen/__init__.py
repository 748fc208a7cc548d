"""Code generator: model -> arithmetic plan -> memory plan -> C sources and manifest."""
