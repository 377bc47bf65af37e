"""querytune: fine-tune small LLMs to write search queries, and serve them."""
__version__ = "0.1.0"
