"""Lotteries (抽奖): a weighted prize pool with stock; free draws per day, then points."""
