"""The training engine every loop shares: resumable epoch loop, warm-up + cosine schedule, progress bars, dvclive."""
