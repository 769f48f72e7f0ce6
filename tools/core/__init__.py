"""The bottom of the library: errors, result types and the settings the tools read. Imports nothing above it."""
