"""What every model and trainer runs on: devices and precision, distributed processes, the optimizer and its
schedule, weight averaging, seeding, and the environment a run records. The lowest layer after the data."""
