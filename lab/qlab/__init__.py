"""The qhb.qluster lab: systemd hosts in rootful podman containers, and faults to inject into them."""
