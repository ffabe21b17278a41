"""What the machine has and allows: the device, GPUs (without torch), cgroup and memory limits, CPU threads left free by other processes, processes stopped by a signal, torchrun's environment."""
