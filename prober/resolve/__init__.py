"""DNS: MX and address resolution over dnspython."""
