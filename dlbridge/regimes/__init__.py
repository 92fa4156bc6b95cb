"""The (h, α) phase diagram read back and analysed: cells of seeds, the lazy slope, α*(h),
ensembles and output fluctuations, tables and figures (torch-free)."""
