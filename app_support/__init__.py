"""Dashboard support: session state, the Streamlit cache layer, config widgets and background jobs."""
