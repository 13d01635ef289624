"""Conversion: Keras models to TFLite flavours, verified and carrying their metadata. Needs the [train] extra."""
