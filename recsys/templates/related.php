<?php
/**
 * Plugin Name: recsys: Readers also read
 * Description: Shows "Readers also read" after each post, from the related.json that recsys writes.
 * Version: 1.0
 * License: MIT
 *
 * Install: copy this file to wp-content/mu-plugins/related.php (must-use plugins need no activation).
 * Configure in wp-config.php (both optional):
 *   define('RECSYS_RELATED_JSON', '/var/lib/recsys/related.json');
 *     (default: wp-content/uploads/recsys/related.json)
 *   define('RECSYS_ARTICLE_PATTERN', '^/\d{4}/\d{2}/(?:\d{2}/)?[^/]+/$');  // the same pattern as recsys's
 * Filters: recsys_related_json (the path), recsys_related_heading (the heading).
 * Only same-site paths matching the pattern are linked; URLs pass esc_url and titles esc_html.
 * The trailing slash does not matter: a post finds its list whether the file's keys end with / and
 * its permalink does not, or the reverse, and the pattern is tried with and without it.
 */

defined('ABSPATH') || exit;

function recsys_related_items() {
    static $items = null;
    if ($items !== null) {
        return $items;
    }
    $items = array();
    $path = defined('RECSYS_RELATED_JSON')
        ? RECSYS_RELATED_JSON : WP_CONTENT_DIR . '/uploads/recsys/related.json';
    $path = apply_filters('recsys_related_json', $path);
    $text = is_readable($path) ? file_get_contents($path) : false;
    $doc = is_string($text) ? json_decode($text, true) : null;
    if (is_array($doc) && isset($doc['items']) && is_array($doc['items'])) {
        $items = $doc['items'];
    }
    return $items;
}

function recsys_related_forms($url) {  // the URL without, then with, its path's trailing slash
    $parts = explode('?', $url, 2);
    $bare = rtrim($parts[0], '/');
    $query = isset($parts[1]) ? '?' . $parts[1] : '';
    return $bare === '' ? array('/' . $query) : array($bare . $query, $bare . '/' . $query);
}

function recsys_related_safe($url) {
    $pattern = defined('RECSYS_ARTICLE_PATTERN')
        ? RECSYS_ARTICLE_PATTERN : '^/\d{4}/\d{2}/(?:\d{2}/)?[^/]+/$';
    if (!is_string($url) || preg_match('#^/(?!/)[^\s\\\\\x00-\x1f\x7f"\'<>`]*$#D', $url) !== 1) {
        return false;
    }
    foreach (recsys_related_forms($url) as $form) {
        if (@preg_match('#' . str_replace('#', '\#', $pattern) . '#', $form) === 1) {
            return true;
        }
    }
    return false;
}

function recsys_related_title($r) {
    $title = isset($r['title']) && is_string($r['title']) ? trim($r['title']) : '';
    if ($title === '') {  // WordPress knows its titles
        $id = url_to_postid($r['url']);
        $html = $id ? get_the_title($id) : '';
        $title = trim(html_entity_decode(wp_strip_all_tags($html), ENT_QUOTES, 'UTF-8'));
    }
    return $title !== '' ? $title : $r['url'];
}

function recsys_related_html($path) {
    $items = recsys_related_items();
    if (!is_string($path) || $path === '') {
        return '';
    }
    $seen = array($path => true);
    $list = null;
    foreach (array_merge(array($path), recsys_related_forms($path)) as $key) {
        $seen[$key] = true;
        if ($list === null && isset($items[$key]) && is_array($items[$key])) {
            $list = $items[$key];
        }
    }
    if ($list === null) {
        return '';
    }
    $li = '';
    foreach ($list as $r) {
        $ok = is_array($r) && isset($r['url']) && recsys_related_safe($r['url']);
        if (!$ok || isset($seen[$r['url']])) {
            continue;
        }
        $seen[$r['url']] = true;
        $li .= '<li><a href="' . esc_url($r['url']) . '">' . esc_html(recsys_related_title($r)) . '</a></li>';
    }
    if ($li === '') {
        return '';
    }
    $heading = apply_filters('recsys_related_heading', 'Readers also read');
    return '<nav class="recsys-related" aria-labelledby="recsys-related-title">'
        . '<h2 id="recsys-related-title">' . esc_html($heading) . '</h2><ol>' . $li . '</ol></nav>';
}

add_filter('the_content', function ($content) {
    if (is_feed() || !is_singular() || !in_the_loop() || !is_main_query()) {
        return $content;
    }
    return $content . recsys_related_html(wp_parse_url(get_permalink(), PHP_URL_PATH));
}, 20);
