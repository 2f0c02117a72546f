"""Class-conditional image generators (DCGAN, diffusers DDPM) whose samples augment a training split."""
