"""prober: check whether an address can receive mail, and explain every SMTP reply."""
