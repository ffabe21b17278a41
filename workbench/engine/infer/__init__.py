"""Using a trained model: sampling (CPU stepper, accelerator chunks), probing, scoring, loading a checkpoint for it, int8 weights."""
