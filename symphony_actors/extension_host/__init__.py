"""extension_host"""
