"""Flash sales (秒杀): a window, campaign stock of its own, a per-member limit."""
