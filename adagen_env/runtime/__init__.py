"""What every layer runs on: devices, torch.distributed, provenance and atomic result files, plain-text tables."""
