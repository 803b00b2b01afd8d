"""Group buys (拼团): groups of N members at a group price; short groups are refunded."""
