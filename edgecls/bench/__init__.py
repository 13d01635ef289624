"""Benchmarks: latency, memory and accuracy of converted models, per device, and the report that merges devices.

measure (latency in a fresh process per model and thread count) and accuracy (top-1 on decoded data) feed
runner (one ``run_bench`` call); results holds the JSON schema, the table, CSV and the merged report; bundle
packs models and a test slice for a device without TensorFlow. Only keras needs TensorFlow, imported inside.
"""
