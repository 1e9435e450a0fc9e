"""Protocol drivers: each turns addresses into poll groups and writes into verified writes."""
