"""Data for the models: the Cityscapes-layout reader (torch-free), the synthetic street world, torch datasets."""
