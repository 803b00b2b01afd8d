"""Bargains (砍价): friends cut the price down to a floor; the owner buys at the price reached."""
