"""Training: configs, tf.data pipelines, callbacks and run folders. Needs the [train] extra."""
