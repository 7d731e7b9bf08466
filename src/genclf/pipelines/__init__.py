"""One call each, for a person or a strategy: train or load a classifier (``classify``), a generator
(``generate``), a colorizer (``colorize``), and export a classifier (``export``). Each takes one ``TrainConfig``
(the trainer's options) plus its own few arguments."""
