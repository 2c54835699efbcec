"""The trained model elsewhere: exported for other runtimes (:mod:`.export`), and run in
them without TensorFlow (:mod:`.runtimes`)."""
