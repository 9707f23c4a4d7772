"""What a render produces beyond the float image: statistics, integer and noise images, the
values written into headers and reports, and DIALS experiment lists."""
