"""Built-in channel plugins of thongbao; each registers exactly as a third-party plugin does."""
