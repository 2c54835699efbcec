"""Training beyond the chapter's ``fit``: what ``fit`` is given (:mod:`.session`), Keras's
backend started quietly (:mod:`.backend`), mixed precision (:mod:`.precision`),
TensorFlow's fused batch norm (:mod:`.batchnorm`), weight averaging (:mod:`.swa`), several
devices or machines (:mod:`.distribute`), and a process's memory kept down (:mod:`.memory`)."""
