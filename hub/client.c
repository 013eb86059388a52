/* SPDX-License-Identifier: MIT */
/* The client object: configuration copy, handle pool, location cache. */
#include "hub/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

int hub_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void hub_global_cleanup(void)
{
	curl_global_cleanup();
}

int hub_client_new(const struct hub_config *cfg, struct hub_client **out)
{
	struct hub_client *c = calloc(1, sizeof(*c));
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->pool_lock, NULL);
	pthread_mutex_init(&c->loc_lock, NULL);
	pthread_cond_init(&c->loc_changed, NULL);
	c->cfg = *cfg;
	c->cfg.endpoint = strdup(cfg->endpoint);
	c->cfg.token = NULL;
	c->locs = calloc(HUB_LOCATION_CACHE, sizeof(*c->locs));
	if (!c->cfg.endpoint || !c->locs)
		goto fail;
	hub_http_redact_url(c->cfg.endpoint, c->endpoint_shown, sizeof(c->endpoint_shown));
	if (cfg->token) {
		size_t n = strlen(cfg->token) + sizeof("Authorization: Bearer ");

		c->auth_header = malloc(n);
		if (!c->auth_header)
			goto fail;
		snprintf(c->auth_header, n, "Authorization: Bearer %s", cfg->token);
	}
	/* The origin the token belongs to. */
	rc = -EINVAL;
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, c->cfg.endpoint, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto fail;
	snprintf(c->origin, sizeof(c->origin), "%s://%s:%s", scheme, host, port);
	for (char *p = c->origin; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	*out = c;
	return 0;
fail:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	hub_client_free(c);
	return rc;
}

void hub_client_free(struct hub_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->pool_len; i++)
		curl_easy_cleanup(c->pool[i]);
	if (c->auth_header) {
		explicit_bzero(c->auth_header, strlen(c->auth_header));
		free(c->auth_header);
	}
	free(c->locs);
	free(c->cfg.endpoint);
	pthread_mutex_destroy(&c->pool_lock);
	pthread_mutex_destroy(&c->loc_lock);
	pthread_cond_destroy(&c->loc_changed);
	free(c);
}

void hub_client_set_pace(struct hub_client *c, struct hub_pace *pace)
{
	c->pace = pace;
}

void hub_client_stats(struct hub_client *c, struct hub_stats *out)
{
	out->requests = atomic_load(&c->n_requests);
	out->retries = atomic_load(&c->n_retries);
	out->resumes = atomic_load(&c->n_resumes);
	out->bytes_body = atomic_load(&c->n_body_bytes);
	out->timeouts = atomic_load(&c->n_timeouts);
	out->transport_errors = atomic_load(&c->n_transport_errors);
	for (size_t i = 0; i < HUB_STATUS_SLOTS; i++)
		out->by_status[i] = atomic_load(&c->n_status[i]);
}

void hub_http_count_answer(struct hub_client *c, long status, int rc)
{
	/* A body broken off after its status line counts both ways. */
	if (status >= HUB_STATUS_MIN && status <= HUB_STATUS_MAX)
		atomic_fetch_add(&c->n_status[status - HUB_STATUS_MIN], 1);
	if (rc == -ETIMEDOUT)
		atomic_fetch_add(&c->n_timeouts, 1);
	else if (rc < 0 && rc != -ECANCELED)
		atomic_fetch_add(&c->n_transport_errors, 1);
}
