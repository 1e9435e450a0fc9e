"""The operator console: a Textual application, an OPC UA client of the controller."""
