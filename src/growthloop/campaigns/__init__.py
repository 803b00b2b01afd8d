"""Fission marketing: flash sales, group buys, bargains and the rest. Campaigns sit above
orders: they vet the member against the campaign's rules and create orders at campaign
prices through `orders.service`, and follow those orders through order events."""
